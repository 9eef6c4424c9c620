# A key-value store with change notifications: the service of docs/your-own-service.md.
@0x893a14aa2c697b6e;

interface Store {
  get @0 (key :Text) -> (value :Data, found :Bool);
  put @1 (key :Text, value :Data);

  watch @2 (watcher :Watcher) -> (subscription :Subscription);
  # Calls `watcher` after every put, from any client, until `subscription` is dropped.

  load @3 (key :Text, value :Data) -> stream;
  # Bulk loading: a put without an answer per call; the caller waits only when too many are
  # unacknowledged (flow control).
}

interface Watcher {
  changed @0 (key :Text, value :Data);
}

interface Subscription {}
# Held by the watching client; dropping it stops the notifications.
