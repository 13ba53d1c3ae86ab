"""Public disclosure (一公开) of inspection results per plan (docs/adr/0098)."""
