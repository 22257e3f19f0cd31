// Counts the ReadyForQuery messages a server still owes for what its client
// sent, so transaction pooling releases a server only when it is truly done:
// at ReadyForQuery 'I' with nothing outstanding.
#pragma once

#include <cstdint>

namespace pggate::protocol {

class SyncTracker {
public:
    // A frontend message header passed to the server.
    void on_frontend(char type);
    // A ReadyForQuery from the server with its status byte.
    void on_ready_for_query(char status);

    std::uint32_t outstanding() const { return outstanding_; }
    // Pipeline segments (each ends with one ReadyForQuery): how many have
    // completed, and the segment a message sent now belongs to.
    std::uint64_t completed() const { return completed_; }
    std::uint64_t current_segment() const { return completed_ + outstanding_; }
    char status() const { return status_; }
    // Owing nothing and inside no extended-protocol exchange or COPY.
    bool synced() const { return outstanding_ == 0 && !copy_in_ && !unsynced_; }
    // Inside no extended-protocol exchange or COPY: a Query may be sent now,
    // behind whatever is still outstanding.
    bool accepts_query() const { return !copy_in_ && !unsynced_; }
    // Idle and owing nothing: the server may go to another client.
    bool releasable() const { return outstanding_ == 0 && status_ == 'I' && !copy_in_ && !unsynced_; }

private:
    std::uint32_t outstanding_ = 0;
    std::uint64_t completed_ = 0;
    // Syncs since the last Query/Execute: if that statement turns out to be a
    // COPY FROM STDIN, the server ignores them (it is in copy-in mode).
    std::uint32_t syncs_since_statement_ = 0;
    bool copy_in_ = false;
    // Extended-protocol messages sent since the last Sync: the server holds
    // their unnamed statement/portal (or their error) until a Sync comes.
    bool unsynced_ = false;
    bool extended_statement_ = false;  // the last statement came by Execute, not Query
    char status_ = 'I';
};

}  // namespace pggate::protocol
