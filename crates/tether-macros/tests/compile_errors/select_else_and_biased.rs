#![allow(unused)]

use std::future::ready;

async fn else_twice() {
    tether::select! {
        v = ready(1) => v,
        else => 0,
        else => 1,
    };
}

async fn else_not_last() {
    tether::select! {
        else => 0,
        v = ready(1) => v,
    };
}

async fn else_without_arrow() {
    tether::select! {
        v = ready(1) => v,
        else 0
    };
}

async fn biased_not_first() {
    tether::select! {
        v = ready(1) => v,
        biased;
        w = ready(2) => w,
    };
}

fn main() {}
