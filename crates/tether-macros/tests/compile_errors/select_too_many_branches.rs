#![allow(unused)]

async fn sixty_five_branches() {
    tether::select! {
        _ = std::future::ready(0) => {}
        _ = std::future::ready(1) => {}
        _ = std::future::ready(2) => {}
        _ = std::future::ready(3) => {}
        _ = std::future::ready(4) => {}
        _ = std::future::ready(5) => {}
        _ = std::future::ready(6) => {}
        _ = std::future::ready(7) => {}
        _ = std::future::ready(8) => {}
        _ = std::future::ready(9) => {}
        _ = std::future::ready(10) => {}
        _ = std::future::ready(11) => {}
        _ = std::future::ready(12) => {}
        _ = std::future::ready(13) => {}
        _ = std::future::ready(14) => {}
        _ = std::future::ready(15) => {}
        _ = std::future::ready(16) => {}
        _ = std::future::ready(17) => {}
        _ = std::future::ready(18) => {}
        _ = std::future::ready(19) => {}
        _ = std::future::ready(20) => {}
        _ = std::future::ready(21) => {}
        _ = std::future::ready(22) => {}
        _ = std::future::ready(23) => {}
        _ = std::future::ready(24) => {}
        _ = std::future::ready(25) => {}
        _ = std::future::ready(26) => {}
        _ = std::future::ready(27) => {}
        _ = std::future::ready(28) => {}
        _ = std::future::ready(29) => {}
        _ = std::future::ready(30) => {}
        _ = std::future::ready(31) => {}
        _ = std::future::ready(32) => {}
        _ = std::future::ready(33) => {}
        _ = std::future::ready(34) => {}
        _ = std::future::ready(35) => {}
        _ = std::future::ready(36) => {}
        _ = std::future::ready(37) => {}
        _ = std::future::ready(38) => {}
        _ = std::future::ready(39) => {}
        _ = std::future::ready(40) => {}
        _ = std::future::ready(41) => {}
        _ = std::future::ready(42) => {}
        _ = std::future::ready(43) => {}
        _ = std::future::ready(44) => {}
        _ = std::future::ready(45) => {}
        _ = std::future::ready(46) => {}
        _ = std::future::ready(47) => {}
        _ = std::future::ready(48) => {}
        _ = std::future::ready(49) => {}
        _ = std::future::ready(50) => {}
        _ = std::future::ready(51) => {}
        _ = std::future::ready(52) => {}
        _ = std::future::ready(53) => {}
        _ = std::future::ready(54) => {}
        _ = std::future::ready(55) => {}
        _ = std::future::ready(56) => {}
        _ = std::future::ready(57) => {}
        _ = std::future::ready(58) => {}
        _ = std::future::ready(59) => {}
        _ = std::future::ready(60) => {}
        _ = std::future::ready(61) => {}
        _ = std::future::ready(62) => {}
        _ = std::future::ready(63) => {}
        _ = std::future::ready(64) => {}
    }
}

fn main() {}
