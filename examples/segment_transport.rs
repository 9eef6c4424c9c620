//! A producer sends a stream of address books as segment frames (one frame per segment); a
//! consumer reads them in place and prints a summary.
//!
//! ```text
//! cargo run --release --example segment_transport -- --transport tcp
//! cargo run --release --features zmq --example segment_transport -- --transport zmq
//! ```
//!
//! Both ends run in this process, over 127.0.0.1: plain TCP with windlass's aligned multipart
//! framing, or ZeroMQ PUSH → PULL. Small first segments make every book several segments long.

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use capnp::message::{Builder, HeapAllocator};
use clap::{Parser, ValueEnum};
use windlass::framing::{self, CodecStats, Limits, SegmentReceiver, SegmentSender};
use windlass_addressbook::AddressBook;

#[derive(Parser, Debug)]
#[command(about = "Send address books one frame per segment and read them without copying")]
struct Args {
    /// How the segments travel.
    #[arg(long, value_enum, default_value_t = Transport::Tcp)]
    transport: Transport,
    /// Address books to send.
    #[arg(long, default_value_t = 1000)]
    count: u32,
    /// People per address book.
    #[arg(long, default_value_t = 50)]
    people: u32,
    /// Words in each book's first segment; smaller means more segments.
    #[arg(long, default_value_t = 64)]
    first_segment_words: u32,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Transport {
    /// windlass's multipart framing over plain TCP.
    Tcp,
    /// ZeroMQ PUSH/PULL over tcp:// (needs `--features zmq`).
    Zmq,
}

/// What the consumer saw.
#[derive(Default)]
struct Summary {
    messages: u64,
    segments: u64,
    people: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        cfg!(feature = "zmq") || !matches!(args.transport, Transport::Zmq),
        "this build has no ZeroMQ: run with `--features zmq`"
    );
    let book = AddressBook::generated(args.people);
    let mut message =
        Builder::new(HeapAllocator::new().first_segment_words(args.first_segment_words.max(1)));
    book.build(&mut message);
    let segments = framing::to_segments(&message).len();
    println!(
        "sending {} address books of {} people, {} segments each, over {:?}",
        args.count, args.people, segments, args.transport
    );
    let started = Instant::now();
    let (summary, stats) = match args.transport {
        Transport::Tcp => tcp(&message, args.count).await?,
        Transport::Zmq => zmq(&message, args.count).await?,
    };
    let elapsed = started.elapsed();
    ensure!(summary.messages == u64::from(args.count), "messages lost");
    println!(
        "received {} messages, {} segments, {} people, {} bytes of segments in {:.1} ms",
        summary.messages,
        summary.segments,
        summary.people,
        stats.segment_bytes,
        elapsed.as_secs_f64() * 1e3
    );
    println!(
        "copied to align: {} bytes in {} messages ({})",
        stats.copied_bytes,
        stats.copied_messages,
        if stats.copied_bytes == 0 {
            "zero-copy"
        } else {
            "frames arrived unaligned"
        }
    );
    Ok(())
}

/// Reads `count` messages, checking each is a whole address book.
async fn consume(receiver: &mut impl SegmentReceiver, count: u32) -> Result<Summary> {
    let mut summary = Summary::default();
    for _ in 0..count {
        let message = receiver
            .recv()
            .await?
            .context("the producer stopped early")?;
        let book = AddressBook::from_message(&message)?;
        summary.messages += 1;
        summary.segments += message.get_segments().segment_count() as u64;
        summary.people += book.people.len() as u64;
    }
    Ok(summary)
}

async fn produce(
    sender: &mut impl SegmentSender,
    message: &Builder<HeapAllocator>,
    count: u32,
) -> Result<()> {
    for _ in 0..count {
        sender.send(message).await?;
    }
    Ok(())
}

async fn tcp(message: &Builder<HeapAllocator>, count: u32) -> Result<(Summary, CodecStats)> {
    use framing::TcpSegmentTransport;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let consumer = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let mut receiver = TcpSegmentTransport::new(stream, Limits::new());
        let summary = consume(&mut receiver, count).await?;
        ensure!(receiver.recv().await?.is_none(), "more messages than sent");
        Ok((summary, receiver.stats()))
    });
    let mut sender = TcpSegmentTransport::connect(addr, Limits::new()).await?;
    produce(&mut sender, message, count).await?;
    sender.shutdown().await?;
    consumer.await?
}

#[cfg(feature = "zmq")]
async fn zmq(message: &Builder<HeapAllocator>, count: u32) -> Result<(Summary, CodecStats)> {
    use framing::ZmqSegmentTransport;
    use zeromq::Socket;

    let mut pull = zeromq::PullSocket::new();
    let endpoint = pull.bind("tcp://127.0.0.1:0").await?.to_string();
    let consumer = tokio::spawn(async move {
        let mut receiver = ZmqSegmentTransport::new(pull, Limits::new());
        let summary = consume(&mut receiver, count).await?;
        anyhow::Ok((summary, receiver.stats()))
    });
    let mut push = zeromq::PushSocket::new();
    push.connect(&endpoint).await?;
    let mut sender = ZmqSegmentTransport::new(push, Limits::new());
    produce(&mut sender, message, count).await?;
    consumer.await?
}

#[cfg(not(feature = "zmq"))]
async fn zmq(_: &Builder<HeapAllocator>, _: u32) -> Result<(Summary, CodecStats)> {
    anyhow::bail!("this build has no ZeroMQ: run with `--features zmq`")
}
