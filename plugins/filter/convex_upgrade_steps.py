# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether one in-place upgrade can migrate the database, following upstream's migration rule.

Upstream's rule, read at get-convex/convex-backend 94a42c3db8d7ba6d9fe36f2698f9d9d9daaac731:
* crates/model/src/migrations.rs (MigrationWorker::attempt_migrations): the backend reads the
  persisted database version v and, while v < DATABASE_VERSION, performs the migration to v + 1;
  at DATABASE_VERSION it logs "up to date"; above it ("persisted db metadata version is ahead")
  it only warns and runs an old binary on a newer database.
* crates/migrations_model/src/lib.rs (MigrationExecutor::perform_migration): each binary only
  knows the migrations to versions above a bound, `1..=N => panic!("Transition too old!")`
  (N = 116 there). So a binary can migrate a database at version v only when v >= N; an older
  database must first be migrated by an older release that still knows those steps.
* self-hosted/advanced/upgrading.md: upgrade in place and wait for each migration's log line.

A release is described by its DATABASE_VERSION (database_version) and that bound
(migrates_from). The database of a deployment whose migrations finished is at the running
release's database_version.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

SOURCE = ('https://github.com/get-convex/convex-backend/blob/%s/crates/migrations_model/src/lib.rs')


def _release(releases, sha, what):
    entry = releases.get(sha)
    if entry is None:
        return None
    try:
        return {'database_version': int(entry['database_version']), 'migrates_from': int(entry['migrates_from']),
                'tag': str(entry.get('tag', ''))}
    except (KeyError, TypeError, ValueError):
        raise AnsibleFilterError('convex_upgrade_releases[%s] (%s) needs integer database_version and migrates_from, '
                                 'got %r' % (sha, what, entry))


def _name(sha, release):
    return '%s (%s)' % (sha, release['tag']) if release.get('tag') else sha


def _unknown(sha, what):
    return ('The %s %s is not in the table of Convex releases this collection knows (playbooks/vars/convex_releases.yml), '
            'so upstream\'s migration rule cannot be checked. Read %s: DATABASE_VERSION, and N in the arm '
            '`1..=N => panic!("Transition too old!")`, then add to the inventory: convex_upgrade_releases: '
            '{%s: {database_version: <DATABASE_VERSION>, migrates_from: <N>}}. Nothing was changed.'
            % (what, sha, SOURCE % sha, sha))


def convex_upgrade_steps(target, previous, releases):
    """{'ok': bool, 'steps': [sha...], 'msg': str}: steps are the releases to upgrade to, in order,
    ending with target; ok is true when target alone can migrate the running database."""
    releases = releases or {}
    if not isinstance(releases, dict):
        raise AnsibleFilterError('convex_upgrade_releases must be a mapping of sha to {database_version, migrates_from}')
    if not previous or previous == target:
        return {'ok': True, 'steps': [target], 'msg': ''}
    new = _release(releases, target, 'convex_upgrade_sha')
    if new is None:
        return {'ok': False, 'steps': [], 'msg': _unknown(target, 'new sha')}
    old = _release(releases, previous, 'the running sha')
    if old is None:
        return {'ok': False, 'steps': [], 'msg': _unknown(previous, 'running sha')}
    version = old['database_version']
    if version > new['database_version']:
        return {'ok': False, 'steps': [], 'msg': (
            'The database of %s is at version %d; %s only knows versions up to %d. Its backend would run on a newer '
            'database than it understands (upstream logs "persisted db metadata version is ahead"). That is a downgrade: '
            'roll back with the pre-upgrade backup instead (roles/convex_backend/README.md). Nothing was changed.'
            % (_name(previous, old), version, _name(target, new), new['database_version']))}
    if version >= new['migrates_from']:
        return {'ok': True, 'steps': [target], 'msg': ''}
    steps = []
    while version < new['migrates_from']:
        candidates = [(r['database_version'], r['tag'], sha) for sha, r in
                      ((sha, _release(releases, sha, 'a known release')) for sha in releases)
                      if r['migrates_from'] <= version < r['database_version'] <= new['database_version']]
        if not candidates:
            return {'ok': False, 'steps': steps, 'msg': (
                'The database of %s is at version %d; %s migrates only from version %d (upstream panics with '
                '"Transition too old!"), and no release in convex_upgrade_releases migrates a database at version %d. '
                'Find an upstream release that does (%s), add it to convex_upgrade_releases and upgrade to it first. '
                'Nothing was changed.'
                % (_name(previous, old), version, _name(target, new), new['migrates_from'], version, SOURCE % '<sha>'))}
        version, _tag, sha = max(candidates)
        steps.append(sha)
    steps.append(target)
    listed = ', then '.join(_name(sha, _release(releases, sha, 'a step')) for sha in steps)
    return {'ok': False, 'steps': steps, 'msg': (
        'The database of %s is at version %d, but %s migrates only from version %d (older steps panic upstream with '
        '"Transition too old!"). Upgrade in steps, one playbooks/upgrade.yml run each, waiting for each to finish: %s. '
        'Nothing was changed.' % (_name(previous, old), old['database_version'], _name(target, new),
                                  new['migrates_from'], listed))}


class FilterModule(object):
    def filters(self):
        return {'convex_upgrade_steps': convex_upgrade_steps}
