//! The NAS-Bench-201 ground-truth table.
