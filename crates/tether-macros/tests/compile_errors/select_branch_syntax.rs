#![allow(unused)]

use std::future::ready;

async fn no_pattern() {
    tether::select! {
        ready(1) => {}
    }
}

async fn no_equals() {
    tether::select! {
        v == ready(1) => {}
    }
}

async fn method_call_without_pattern(rx: &mut tether::sync::mpsc::Receiver<u32>) {
    tether::select! {
        rx.recv() => {}
    }
}

async fn no_arrow() {
    tether::select! {
        v = ready(1) { v }
    }
}

async fn no_handler() {
    tether::select! {
        v = ready(1) =>
    }
}

async fn no_comma_between_handlers() {
    tether::select! {
        a = ready(1) => a
        b = ready(2) => b,
    }
}

async fn if_without_comma() {
    tether::select! {
        v = ready(1) if true => v,
    }
}

async fn no_future() {
    tether::select! {
        v = => v,
    }
}

fn main() {}
