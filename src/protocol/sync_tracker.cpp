// ReadyForQuery accounting, including the Syncs a server ignores in copy-in mode.
#include "protocol/sync_tracker.hpp"

namespace pggate::protocol {

void SyncTracker::on_frontend(char type) {
    switch (type) {
        case 'Q':  // simple query: one ReadyForQuery, even for several statements
        case 'F':  // function call
            ++outstanding_;
            syncs_since_statement_ = 0;
            extended_statement_ = false;
            break;
        case 'E':
            syncs_since_statement_ = 0;
            unsynced_ = true;
            extended_statement_ = true;
            break;
        case 'P':
        case 'B':
        case 'D':
        case 'C':
        case 'H':
            unsynced_ = true;
            break;
        case 'S':
            if (copy_in_) break;  // ignored by the server during copy-in
            ++outstanding_;
            ++syncs_since_statement_;
            unsynced_ = false;
            break;
        case 'd':
            if (!copy_in_) {
                // The client is feeding a COPY FROM STDIN: Syncs it sent after
                // the statement that started it were ignored by the server.
                copy_in_ = true;
                outstanding_ -= syncs_since_statement_ <= outstanding_ ? syncs_since_statement_ : outstanding_;
                syncs_since_statement_ = 0;
            }
            break;
        case 'c':
        case 'f':
            if (!copy_in_) {
                outstanding_ -= syncs_since_statement_ <= outstanding_ ? syncs_since_statement_ : outstanding_;
                syncs_since_statement_ = 0;
            }
            copy_in_ = false;
            // A COPY started by Execute ends at the Sync that follows it.
            if (extended_statement_) unsynced_ = true;
            break;
        default:
            break;
    }
}

void SyncTracker::on_ready_for_query(char status) {
    if (outstanding_ > 0) --outstanding_;
    ++completed_;
    status_ = status;
}

}  // namespace pggate::protocol
