# Every node process imports this package before any compiled module: the place to honour
# IDNODE_PURE_PYTHON (resolver/compiled.py).
from resolver import compiled as _compiled

_compiled.apply_environment()
