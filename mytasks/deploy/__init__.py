"""Taking policies out: export (``export.py``) and sim2sim in plain MuJoCo (``sim2sim.py``)."""
