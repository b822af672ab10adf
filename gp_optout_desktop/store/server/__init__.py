"""Server mode: the register on PostgreSQL (issue 15, docs/adr/0005-server-mode-seam.md).

The server sees ciphertext and keyed blind indexes only (crypto.py); tenancy is row-level
security by practice (schema.py); the desk flow's writes serialise on the practice row
(ops.py)."""
