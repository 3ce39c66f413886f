//! Exercises a tokio multi-thread runtime (4 workers): epoll, eventfd wake-ups, futexes, timers,
//! an mpsc channel between tasks and a TCP echo over 127.0.0.1. Output is deterministic.
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

async fn echo_roundtrip() -> std::io::Result<Vec<u8>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await?;
        let mut buf = [0u8; 64];
        let n = sock.read(&mut buf).await?;
        sock.write_all(&buf[..n]).await?;
        std::io::Result::Ok(())
    });
    let mut client = TcpStream::connect(addr).await?;
    client.write_all(b"ping over tcp").await?;
    let mut back = vec![0u8; 13];
    client.read_exact(&mut back).await?;
    server.await.expect("server task")?;
    Ok(back)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel::<(u64, u64)>(16);
        let mut tasks = Vec::new();
        for i in 0..8u64 {
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5 * (8 - i))).await;
                let v = (1..=1000u64).map(|x| x * (i + 1)).sum::<u64>();
                tx.send((i, v)).await.expect("send");
                i
            }));
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(m) = rx.recv().await {
            got.push(m);
        }
        got.sort_unstable();
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.expect("task"));
        }
        println!("task ids = {ids:?}");
        println!("messages = {got:?}");
        let start = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(50)).await;
        println!(
            "slept >= 50ms: {}",
            start.elapsed() >= Duration::from_millis(50)
        );
        let back = echo_roundtrip().await.expect("echo");
        println!("echo = {}", String::from_utf8_lossy(&back));
    });
}
