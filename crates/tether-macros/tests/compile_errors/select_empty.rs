#![allow(unused)]

async fn only_biased() {
    tether::select! { biased; }
}

async fn only_else() {
    tether::select! { else => () }
}

fn main() {}
