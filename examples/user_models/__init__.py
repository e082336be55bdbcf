"""Example user models for FINN-DSE (docs/user-models.md).

Refer to them by file path, ``examples/user_models/small_mlp.py:small_mlp``, or, with the
``examples`` folder on PYTHONPATH, by module, ``user_models.small_mlp:small_mlp``.
"""
