# A chat room: the own-service example of windlass (examples/chat_room/main.rs,
# docs/your-own-service.md). Members join with a Subscriber the room calls back for every post;
# dropping the Member handle leaves the room.
@0xc94c3cc988b1a47a;

interface Room {
  join @0 (name :Text, subscriber :Subscriber) -> (member :Member);
  # Enters the room as `name`; `subscriber` hears every post from now on, until `member` is
  # dropped.

  members @1 () -> (names :List(Text));
  # Who is in the room, in order of joining.
}

interface Member {
  post @0 (text :Text);
  # Sends `text` to every member, this one included.

  upload @1 (chunk :Data) -> stream;
  # Streams a file into the room, a chunk per call; the room counts the bytes. `-> stream`
  # calls are flow-controlled: the caller waits when too many are unacknowledged.

  uploaded @2 () -> (bytes :UInt64, chunks :UInt64);
  # What this member has uploaded so far (and a barrier: it answers after every chunk before it).
}

interface Subscriber {
  deliver @0 (from :Text, text :Text);
  # One post, from the member named `from`.
}
