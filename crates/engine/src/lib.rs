//! The tensor side of oxnas, on tch (libtorch).
