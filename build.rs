fn main() {
  // The core is Linux-only (pidfd, /proc, PR_SET_PDEATHSIG): one clear error elsewhere,
  // rather than a cascade from the code (lib.rs is empty off Linux).
  if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
    println!(
      "cargo::error=forever-native builds and runs on Linux only: its supervisor core uses \
       pidfd, /proc and PR_SET_PDEATHSIG. Nothing was built."
    );
    return;
  }
  napi_build::setup();
}
