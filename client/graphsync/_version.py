VERSION = "0.1.0"  # the one place: install.VERSION, the wheel's version (pyproject.toml) and graph._version
