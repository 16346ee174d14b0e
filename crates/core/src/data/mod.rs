//! Dataset readers, sources, loader and augmentation.
