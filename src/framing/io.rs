//! Many framed messages on one stream: blocking `Read`/`Write` and async `AsyncWrite`, with
//! vectored writes so segments go from the message to the socket without an intermediate buffer.

use std::io::{self, IoSlice, Read, Write};

use capnp::message::{self, ReaderSegments};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::FramedRead;

use super::limits::WORD_BYTES;
use super::segments::{freeze_words, zeroed_words};
use super::table::{self, Parsed};
use super::{FramingError, Limits, Message, MessageCodec, Segments};

/// Reads one framed message from a blocking reader into one word-aligned buffer (the read itself
/// is the only copy); `Ok(None)` if the stream ends cleanly before it.
///
/// # Errors
///
/// [`FramingError::Truncated`] if the stream ends inside the message, a limit violation (checked
/// before the message's memory is allocated), or an I/O error.
pub fn read_message<R: Read + ?Sized>(
    reader: &mut R,
    limits: &Limits,
) -> Result<Option<Message>, FramingError> {
    let mut head = vec![0; WORD_BYTES];
    match read_full(reader, &mut head)? {
        0 => return Ok(None),
        WORD_BYTES => {}
        got => return Err(truncated(got, WORD_BYTES)),
    }
    let table = loop {
        match table::parse(&head, limits)? {
            Parsed::Done(table) => break table,
            // `parse` asks for more only than it has, and at most a limit-checked table.
            Parsed::Need(n) => {
                let have = head.len();
                head.resize(n, 0);
                let more = read_full(reader, &mut head[have..])?;
                if have + more < n {
                    return Err(truncated(have + more, n));
                }
            }
        }
    };
    let mut words = zeroed_words(table.body_bytes / WORD_BYTES);
    let body = capnp::Word::words_to_bytes_mut(&mut words);
    let got = read_full(reader, body)?;
    if got < body.len() {
        return Err(truncated(table.table_bytes + got, table.frame_bytes()));
    }
    let segments = Segments::split_frame(freeze_words(words), table.segment_bytes);
    Ok(Some(message::Reader::new(
        segments,
        limits.reader_options(),
    )))
}

fn truncated(received: usize, expected: usize) -> FramingError {
    FramingError::Truncated { received, expected }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Every message of a blocking stream, in order (pycapnp's `read_multiple`); see
/// [`read_messages`].
#[derive(Debug)]
pub struct MessageIter<R> {
    reader: R,
    limits: Limits,
    done: bool,
}

impl<R: Read> Iterator for MessageIter<R> {
    type Item = Result<Message, FramingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = read_message(&mut self.reader, &self.limits).transpose();
        // After the end or an error the stream position is unknown: stop.
        self.done = !matches!(next, Some(Ok(_)));
        next
    }
}

/// Iterates over the framed messages of a blocking reader until it ends cleanly; an error (a
/// truncated message included) is the last item.
///
/// ```
/// use windlass::framing::{self, Limits};
///
/// let mut builder = capnp::message::Builder::new_default();
/// builder.set_root("hi")?;
/// let mut stream = Vec::new();
/// framing::write_message(&mut stream, &builder, &Limits::new())?;
/// framing::write_message(&mut stream, &builder, &Limits::new())?;
/// let messages = framing::read_messages(stream.as_slice(), Limits::new())
///     .collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(messages.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_messages<R: Read>(reader: R, limits: Limits) -> MessageIter<R> {
    MessageIter {
        reader,
        limits,
        done: false,
    }
}

/// Writes `message` framed to a blocking writer: table and segments in vectored writes, without
/// copying them into a buffer first.
///
/// # Errors
///
/// A message outside `limits`, or an I/O error.
pub fn write_message<W: Write + ?Sized, S: ReaderSegments + ?Sized>(
    writer: &mut W,
    message: &S,
    limits: &Limits,
) -> Result<(), FramingError> {
    let segments = super::segments::checked_segments(message, limits)?;
    let table = table::to_vec(&segments);
    let mut slices = io_slices(&table, &segments);
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match writer.write_vectored(slices) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes `message` framed to an async writer, with vectored writes where the writer supports
/// them (a `TcpStream` does: one `writev` for table and segments). Does not flush.
///
/// # Errors
///
/// A message outside `limits`, or an I/O error.
///
/// # Cancel safety
///
/// Not cancel safe: cancelled midway, part of the message may have been written.
pub async fn write_message_async<W, S>(
    writer: &mut W,
    message: &S,
    limits: &Limits,
) -> Result<(), FramingError>
where
    W: AsyncWrite + Unpin + ?Sized,
    S: ReaderSegments + ?Sized,
{
    let segments = super::segments::checked_segments(message, limits)?;
    let table = table::to_vec(&segments);
    write_all_vectored(writer, &mut io_slices(&table, &segments)).await?;
    Ok(())
}

fn io_slices<'a>(table: &'a [u8], segments: &[&'a [u8]]) -> Vec<IoSlice<'a>> {
    std::iter::once(table)
        .chain(segments.iter().copied())
        .filter(|s| !s.is_empty())
        .map(IoSlice::new)
        .collect()
}

/// `write_all` for a list of slices: vectored where the writer supports it.
pub(crate) async fn write_all_vectored<W: AsyncWrite + Unpin + ?Sized>(
    writer: &mut W,
    mut slices: &mut [IoSlice<'_>],
) -> io::Result<()> {
    while !slices.is_empty() {
        if !writer.is_write_vectored() {
            // One slice at a time; `write_vectored` would do the same, one syscall each.
            let first = slices[0].len();
            writer.write_all(&slices[0]).await?;
            IoSlice::advance_slices(&mut slices, first);
            continue;
        }
        match writer.write_vectored(slices).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => IoSlice::advance_slices(&mut slices, n),
        }
    }
    Ok(())
}

/// The framed messages of an async reader, as a `Stream` of [`Message`]s decoded without copying
/// (`None` at a clean end, [`FramingError::Truncated`] inside a message). Its decoder's
/// [`stats`](MessageCodec::stats) are at `.decoder().stats()`.
pub fn message_stream<R: AsyncRead>(reader: R, limits: Limits) -> FramedRead<R, MessageCodec> {
    FramedRead::new(reader, MessageCodec::with_limits(limits))
}
