//! Differentiable search on tch: supernets, the bilevel loop, the Hessian probe.

pub mod hessian;
