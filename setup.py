from configparser import ConfigParser
from pathlib import Path
import json, setuptools, shlex
from setuptools.command.build_py import build_py

# nbdev 2 layout: every setting lives in settings.ini
config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, "missing expected setting: {}".format(o)
setup_cfg = {o:cfg[o] for o in cfg_keys}

licenses = {'apache2': ('Apache Software License 2.0','OSI Approved :: Apache Software License')}
statuses = [ '1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive' ]
py_versions = '3.9 3.10 3.11 3.12'.split()

requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
min_python = cfg['min_python']
lic = licenses.get(cfg['license'].lower(), (cfg['license'], None))

HERE = Path(__file__).resolve().parent

def papermill_notebooks(nbs: Path) -> list:
    "The notebooks papermill runs: those with a cell tagged `parameters` (phase 1/2, eval report, visual QA, pipeline)."
    def has_parameters(nb: Path) -> bool:
        cells = json.loads(nb.read_text(encoding='utf-8')).get('cells', [])
        return any('parameters' in c.get('metadata', {}).get('tags', []) for c in cells)
    return [nb for nb in sorted(nbs.glob('*.ipynb')) if has_parameters(nb)]

class BuildPyWithNotebooks(build_py):
    """build_py that also copies nbs/'s papermill notebooks into the built package as `sam3m4/notebooks/`, so a regular
    install (`pip install .`, a wheel) can run `sam3m4 eval`; nbs/ stays their only source. An editable install reads nbs/."""
    def _notebook_files(self) -> list:
        nbs = HERE/cfg['nbs_path']
        found = papermill_notebooks(nbs)
        if not found: raise SystemExit(f"{nbs}: no papermill notebooks (cells tagged 'parameters') to ship; build from a full checkout or sdist")
        return found
    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False): return
        dest = Path(self.build_lib)/cfg['lib_path']/'notebooks'
        self.mkpath(str(dest))
        for nb in self._notebook_files(): self.copy_file(str(nb), str(dest/nb.name))
    def get_outputs(self, include_bytecode=True):
        extra = [] if getattr(self, 'editable_mode', False) else \
                [str(Path(self.build_lib)/cfg['lib_path']/'notebooks'/nb.name) for nb in self._notebook_files()]
        return super().get_outputs(include_bytecode) + extra

setuptools.setup(
    cmdclass = {'build_py': BuildPyWithNotebooks},
    name = cfg['lib_name'],
    license = lic[0],
    classifiers = [
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: '+o for o in py_versions[py_versions.index(min_python):]] + (['License :: ' + lic[1] ] if lic[1] else []),
    url = cfg['git_url'],
    packages = setuptools.find_packages(include=['sam3m4', 'sam3m4.*']),
    include_package_data = True,
    package_data = {'sam3m4': ['assets/world_sam3/*']},   # the shipped world SAM 3 (world_sam3.shipped_world_sam3)
    install_requires = requirements,
    extras_require={ 'dev': dev_requirements },
    dependency_links = cfg.get('dep_links','').split(),
    python_requires  = '>=' + cfg['min_python'],
    long_description = open('README.md', encoding='utf-8').read(),
    long_description_content_type = 'text/markdown',
    zip_safe = False,
    entry_points = {
        'console_scripts': cfg.get('console_scripts','').split(),
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']
    },
    **setup_cfg)
