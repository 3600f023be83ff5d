//! `Store::close` waits for what openraft holds, and no longer.

use std::time::Duration;

use tessera_store::Store;

#[tokio::test]
async fn close_waits_for_the_log_store_and_state_machine_to_be_released() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (log, machine) = (store.log_store(), store.state_machine());
    let holder = tokio::spawn(async move {
        // Held across a few scheduler turns, as openraft's workers are.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        drop((log, machine));
    });
    assert!(store.close(Duration::from_secs(5)).await, "closed once both were released");
    holder.await.unwrap();
    // Closed means the directory's lock is free again.
    drop(Store::open(dir.path()).unwrap());
}

#[tokio::test]
async fn close_gives_up_after_its_grace_while_something_still_holds_the_store() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let held = store.state_machine();
    assert!(!store.close(Duration::from_millis(100)).await);
    drop(held);
}
