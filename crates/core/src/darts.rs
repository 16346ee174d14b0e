//! The DARTS CNN cell space and its genotypes.
