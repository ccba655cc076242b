//! The interleaving checker on a few seeds (the full run, 200 seeds or more, is
//! `./dev drills --only interleavings`). A failing seed prints the command that replays it.

use relink_tests::{AppOptions, interleavings};

async fn seed(n: u64) {
    let r = interleavings::run_seed(AppOptions::default(), n).await;
    eprintln!("seed {n}: {} actions; {}", r.actions, r.summary);
    assert!(
        r.violations.is_empty(),
        "seed {n} ({} actions) broke a promise:\n  {}\nreplay: {}",
        r.actions,
        r.violations.join("\n  "),
        interleavings::replay_command(n)
    );
}

#[tokio::test]
async fn seed_1() {
    seed(1).await;
}

#[tokio::test]
async fn seed_2() {
    seed(2).await;
}

#[tokio::test]
async fn seed_3() {
    seed(3).await;
}
