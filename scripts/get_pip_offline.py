"""Stand-in for the get-pip.py script ansible-test downloads to bootstrap its venvs.

ansible-test fetches get-pip from a host these machines cannot reach. Its documented
offline route is to pre-seed ~/.ansible/test/cache/get_pip_<version>.py; this file is
what scripts/ansible_test.sh seeds there. It gives the venv pip with ensurepip, then
installs the exact packages ansible-test asked for (pip==<version>, ...) from PyPI.
"""
import subprocess
import sys

# get-pip.py understands these; plain pip does not.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], check=True,
               stdout=subprocess.DEVNULL)
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *args], check=False).returncode)
