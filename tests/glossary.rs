//! The claim that only the glossary (src/glossary.md) makes; the other tests
//! it names check claims of "TCP in brief" and are in `tests/tcp_in_brief.rs`,
//! or, for the backlog that drops SYNs on loopback, claims of step 5, in
//! `tests/step5_reuseaddr.rs`.

use std::net::{TcpListener, TcpStream};

#[test]
fn nagle_is_on_for_a_new_std_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    // TCP_NODELAY off means Nagle's algorithm is on.
    assert!(!client.nodelay().unwrap());
    client.set_nodelay(true).unwrap();
    assert!(client.nodelay().unwrap());
}
