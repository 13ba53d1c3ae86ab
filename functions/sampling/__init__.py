"""Double-random (双随机) sampling plans: frame → draw → inspectors → immutable plan (docs/adr/0040)."""
