#![allow(unused)]

use std::future::ready;

async fn missing_comma() {
    let _ = tether::join!(ready(1) ready(2));
}

async fn biased_not_first() {
    let _ = tether::try_join!(ready(Ok::<u8, ()>(1)), biased; ready(Ok(2)));
}

fn main() {}
