//! `oxnas hessian`: sharpness of a saved search checkpoint (λmax of ∇²_α L_val, or the top of its
//! spectrum), on the α batches the search drew for that epoch.

use anyhow::Result;
use clap::{Args, ValueEnum};
use oxnas_core::config::{EigenMethod, LANCZOS_TOL};
use oxnas_engine::search::sharpness::{analyse, CheckpointChoice, SharpnessRequest};
use oxnas_engine::DeviceChoice;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Mode {
    /// Every row of the Hessian by double backward, then a symmetric eigen-solver.
    Full,
    /// Lanczos on exact Hessian-vector products.
    Lanczos,
}

#[derive(Args)]
pub struct HessianArgs {
    /// A search run directory.
    #[arg(long)]
    run: PathBuf,
    /// `last`, or `epoch-N` for an epoch checkpoint the run still keeps (checkpoints/epochs/N).
    #[arg(long, default_value = "last")]
    checkpoint: CheckpointChoice,
    /// Average the loss over the epoch's last K α batches (1 = the batch the search used).
    #[arg(long, default_value_t = 1)]
    batches: usize,
    /// Eigen-solver; default: the run's own `hessian.mode` (full if the run had it off).
    #[arg(long)]
    mode: Option<Mode>,
    /// Lanczos steps at most (with --mode lanczos).
    #[arg(long, default_value_t = 30, requires = "mode")]
    iters: usize,
    /// Lanczos stops once λ's estimated error (from the top Ritz pair's residual and the gap to the
    /// next Ritz value) is at most this times λ (with --mode lanczos); the search's default.
    #[arg(long, default_value_t = LANCZOS_TOL, requires = "mode")]
    tol: f64,
    /// Report the K largest eigenvalues (K > 1 needs --mode full).
    #[arg(long, default_value_t = 1)]
    top: usize,
    /// Compute in f64: the f32 checkpoint's weights, α and images converted after loading. Tells how
    /// much f32 rounding moves λmax (BN on nearly constant channels can amplify it); slower.
    #[arg(long)]
    double: bool,
    /// auto, cpu, cuda or cuda:N; default: the run's own device setting.
    #[arg(long)]
    device: Option<DeviceChoice>,
    #[arg(long)]
    json: bool,
}

pub fn hessian(a: HessianArgs) -> Result<()> {
    let method = a.mode.map(|m| match m {
        Mode::Full => EigenMethod::Full,
        Mode::Lanczos => EigenMethod::Lanczos { iters: a.iters, tol: a.tol },
    });
    let req = SharpnessRequest {
        checkpoint: a.checkpoint,
        batches: a.batches,
        method,
        top: a.top,
        device: a.device,
        double: a.double,
    };
    let r = analyse(&a.run, &req)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!("{} (epoch {}, iteration {})", r.checkpoint, r.epoch, r.iteration);
    println!(
        "λmax = {:.9}   over {} undecided α, {} α batch(es) of {} images, {:?}, in {}",
        r.eigenvalues[0], r.dim, r.batches, r.batch_size, r.method, r.precision
    );
    if r.eigenvalues.len() > 1 {
        let rest: Vec<String> = r.eigenvalues.iter().map(|v| format!("{v:.6}")).collect();
        println!("top {}: {}", r.eigenvalues.len(), rest.join(", "));
    }
    println!("{} Hessian-vector products, {:.2} s", r.hvps, r.seconds);
    match r.logged_lambda_max {
        Some(l) => println!("the search logged λmax = {l:.9} for this iteration"),
        None => println!("the search logged no λmax for this iteration"),
    }
    Ok(())
}
