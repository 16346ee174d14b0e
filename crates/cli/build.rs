// torch-sys links libtorch but leaves no search path on our binaries; bake the libtorch lib directory
// in as a RUNPATH so `cargo test` runs without LD_LIBRARY_PATH (which, being RUNPATH, still overrides
// it: that is how a GPU machine's own torch is used instead).
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
