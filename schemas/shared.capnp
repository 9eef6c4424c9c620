# The bridge between two threads of one process (windlass::Shared): a thread that wants a
# capability owned by another thread asks the owner's registry for it by id, over an in-process
# Cap'n Proto connection. Internal to windlass; never seen on a network.
@0xe81af764faabd119;

interface Registry {
  # The capabilities shared by the thread at the other end (`Shared::new`), by id.

  get @0 (id :UInt64) -> (cap :Capability);
  # The capability shared under `id`; fails with `disconnected` if it has been released.
}
