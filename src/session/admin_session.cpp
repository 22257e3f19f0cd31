// A client of the admin console (database "pggate"): who may log in, the
// welcome it gets, and the commands it runs against this worker's view of
// the shared state.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "admin/views.hpp"
#include "config/settings.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "net/frame_scan.hpp"
#include "protocol/codec.hpp"
#include "protocol/messages.hpp"
#include "session/client_conn.hpp"

namespace pggate::session {

namespace {

bool listed(const std::vector<std::string>& users, const std::string& user) {
    return std::find(users.begin(), users.end(), user) != users.end();
}

// Whether the peer of Unix socket `fd` runs as pggate's own user.
bool peer_is_self(evutil_socket_t fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == geteuid();
}

// PostgreSQL session parameters drivers SET on connect (JDBC sends
// extra_float_digits and application_name to a server_version it reads as
// old). The console has no session state, so they change nothing; any
// other key that is not a pggate setting is refused.
bool driver_parameter(const std::string& key) {
    static constexpr std::string_view kParameters[] = {"application_name", "extra_float_digits", "client_encoding",
                                                       "datestyle",        "timezone",           "intervalstyle"};
    return std::find(std::begin(kParameters), std::end(kParameters), key) != std::end(kParameters);
}

// KILL_CLIENT id: the id SHOW CLIENTS shows (the client's cancel key pid).
// The worker that owns the client closes it at its next timeout sweep.
admin::Outcome kill_client(const Worker& worker, const std::string& id, bool describe_only) {
    const shm::Segment& shm = worker.shm();
    std::uint32_t key = 0;
    const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), key);
    const std::optional<std::uint32_t> slot =
        ec == std::errc{} && end == id.data() + id.size() ? shm.slot_of_key(key) : std::nullopt;
    if (!slot || !shm.client(*slot).read())
        return admin::Outcome::fail("42704", "no client with id \"" + id + "\" (SHOW CLIENTS lists them)");
    if (!describe_only) shm.client(*slot).kill_requested.store(1, std::memory_order_relaxed);
    return admin::Outcome::done("KILL_CLIENT");
}

// The workers of `shm` that live have all acted on control generation `generation`.
bool all_workers_saw(const shm::Segment& shm, std::uint64_t generation) {
    for (std::uint32_t w = 0; w < shm.workers(); ++w)
        if (shm.worker(w).pid.load(std::memory_order_relaxed) != 0 &&
            shm.worker(w).controls_seen.load(std::memory_order_acquire) < generation)
            return false;
    return true;
}

// PAUSE [db], RESUME [db], DISABLE db, ENABLE db, RECONNECT [db], KILL [db]:
// written to the shm control table; every worker acts on it at its next
// sweep. PAUSE answers once no server of the database is in use.
admin::Outcome control_database(const Worker& worker, const admin::Command& command, bool describe_only) {
    const char* tag = command.verb == admin::Verb::Disable  ? "DISABLE"
                      : command.verb == admin::Verb::Enable ? "ENABLE"
                      : command.verb == admin::Verb::Kill   ? "KILL"
                      : command.verb == admin::Verb::Pause  ? "PAUSE"
                      : command.verb == admin::Verb::Resume ? "RESUME"
                                                            : "RECONNECT";
    if (command.what == admin::kAdminDatabase)
        return admin::Outcome::fail("42501", std::string(tag) + " does not apply to the admin console");
    if (describe_only) return admin::Outcome::done(tag);
    shm::ControlTable& controls = worker.shm().controls();
    const std::optional<std::uint32_t> entry = controls.find(command.what, true);
    if (!entry)
        return admin::Outcome::fail("54000", "too many databases named in admin commands, or the name is too long");
    shm::DatabaseControl& c = controls.entries[*entry];
    const std::int64_t now = steady_now_ns();
    switch (command.verb) {
        case admin::Verb::Pause: c.paused.store(1, std::memory_order_relaxed); break;
        case admin::Verb::Resume: c.paused.store(0, std::memory_order_relaxed); break;
        case admin::Verb::Disable: c.disabled.store(1, std::memory_order_relaxed); break;
        case admin::Verb::Enable: c.disabled.store(0, std::memory_order_relaxed); break;
        case admin::Verb::Kill: c.kill_ns.store(now, std::memory_order_relaxed); [[fallthrough]];
        default: c.reconnect_ns.store(now, std::memory_order_relaxed); break;
    }
    const std::uint64_t generation = controls.generation.fetch_add(1, std::memory_order_release) + 1;
    log_info("admin console: %s %s", tag, command.what.empty() ? "(all databases)" : command.what.c_str());
    admin::Outcome done = admin::Outcome::done(tag);
    if (command.verb == admin::Verb::Pause) {
        // Done once every worker holds clients back and no server of the database is in use.
        done.until = [shm = worker.shm(), generation, database = command.what, tag]() -> std::optional<admin::Outcome> {
            if (!all_workers_saw(shm, generation) || admin::servers_in_use(shm, database) != 0) return std::nullopt;
            return admin::Outcome::done(tag);
        };
    }
    return done;
}

// SHUTDOWN WAIT_FOR_SERVERS: no new logins and no new transactions (every
// database disabled and paused); once no server is in use in any worker,
// a fast shutdown, which then cuts no transaction.
admin::Outcome shutdown_when_servers_free(const Worker& worker, bool describe_only) {
    admin::Outcome done = admin::Outcome::done("SHUTDOWN");
    if (describe_only) return done;
    shm::ControlTable& controls = worker.shm().controls();
    const std::optional<std::uint32_t> all = controls.find("", true);
    if (!all) return admin::Outcome::fail("54000", "too many databases named in admin commands");
    controls.entries[*all].disabled.store(1, std::memory_order_relaxed);
    controls.entries[*all].paused.store(1, std::memory_order_relaxed);
    const std::uint64_t generation = controls.generation.fetch_add(1, std::memory_order_release) + 1;
    log_info("admin console: SHUTDOWN WAIT_FOR_SERVERS: no new transactions; shutting down once servers are free");
    done.until = [shm = worker.shm(), generation]() -> std::optional<admin::Outcome> {
        if (!all_workers_saw(shm, generation) || admin::servers_in_use(shm, "") != 0) return std::nullopt;
        kill(getppid(), SIGINT);
        return admin::Outcome::done("SHUTDOWN");
    };
    return done;
}

// How long RELOAD waits for the master's answer and then for every worker
// to run with the new configuration.
constexpr int kReloadWaitSeconds = 5;

// Workers that live and do not run with configuration `generation` yet, as
// "0, 2" (empty: none).
std::string workers_behind(const shm::Segment& shm, std::uint64_t generation) {
    std::string behind;
    for (std::uint32_t w = 0; w < shm.workers(); ++w)
        if (shm.worker(w).pid.load(std::memory_order_acquire) != 0 &&
            shm.worker(w).config_generation.load(std::memory_order_acquire) < generation)
            behind += (behind.empty() ? "" : ", ") + std::to_string(w);
    return behind;
}

// RELOAD: the master reads the file again; answered once the master has
// applied it and every worker runs with it (so what follows on this or any
// new connection sees it), or with the master's reason for refusing it.
admin::Outcome reload(Worker& worker, bool describe_only) {
    admin::Outcome done = admin::Outcome::done("RELOAD");
    if (describe_only) return done;
    std::shared_ptr<const Worker::ReloadAnswer> answer = worker.request_reload();
    const std::int64_t deadline = steady_now_ns() + std::int64_t{kReloadWaitSeconds} * 1'000'000'000;
    const shm::Segment shm = worker.shm();
    done.until = [answer, deadline, shm]() -> std::optional<admin::Outcome> {
        const bool late = steady_now_ns() >= deadline;
        if (!answer->answered) {
            if (!late) return std::nullopt;
            return admin::Outcome::fail("57014", "RELOAD: the pggate master did not answer within " +
                                                     std::to_string(kReloadWaitSeconds) +
                                                     " s; it may still apply the file (its log says)");
        }
        if (answer->generation == 0)
            return admin::Outcome::fail("F0000", "reload refused, the running configuration stays: " + answer->refusal);
        const std::string behind = workers_behind(shm, answer->generation);
        if (behind.empty()) return admin::Outcome::done("RELOAD");
        if (!late) return std::nullopt;
        return admin::Outcome::fail("57014", "RELOAD: the master applied the file, but after " +
                                                 std::to_string(kReloadWaitSeconds) + " s worker " + behind +
                                                 " does not run with it yet");
    };
    return done;
}

// One admin command, carried out by a worker on behalf of its client.
admin::Outcome run_command(Worker& worker, const admin::Command& command, bool describe_only) {
    const config::Config& config = worker.config();
    switch (command.verb) {
        case admin::Verb::Show:
            return admin::show(command.what, config, worker.shm(), {steady_now_ns(), std::time(nullptr)});
        case admin::Verb::Reload:
            return reload(worker, describe_only);
        case admin::Verb::Shutdown:
            if (command.what == "wait_for_servers") return shutdown_when_servers_free(worker, describe_only);
            if (!describe_only) kill(getppid(), command.what == "wait_for_clients" ? SIGTERM : SIGINT);
            return admin::Outcome::done("SHUTDOWN");
        case admin::Verb::Suspend:
            return admin::Outcome::fail("0A000", "SUSPEND is not supported: for an online restart or upgrade send "
                                                 "SIGUSR2 to the pggate master, which hands its sockets over");
        case admin::Verb::Set:
            if (describe_only || driver_parameter(command.what)) return admin::Outcome::done("SET");
            if (!config::is_setting(command.what))
                return admin::Outcome::fail("42704", "unrecognized configuration parameter \"" + command.what +
                                                         "\" (SHOW CONFIG lists them)");
            if (auto refused = worker.set_setting(command.what, command.value))
                return admin::Outcome::fail(refused->sqlstate, refused->message);
            return admin::Outcome::done("SET");
        case admin::Verb::KillClient:
            return kill_client(worker, command.what, describe_only);
        case admin::Verb::Pause:
        case admin::Verb::Resume:
        case admin::Verb::Disable:
        case admin::Verb::Enable:
        case admin::Verb::Reconnect:
        case admin::Verb::Kill:
            return control_database(worker, command, describe_only);
        case admin::Verb::Transaction:
            return admin::Outcome::done(command.what);
        case admin::Verb::Empty:
        case admin::Verb::Invalid:
            break;
        default:
            return admin::Outcome::fail("0A000", "this admin command is not supported (SHOW HELP lists those that are)");
    }
    return admin::Outcome::fail("42601", command.error);
}

}  // namespace

void ClientConn::begin_admin_login() {
    const config::Config& c = worker_.config();
    const bool local = address_.family() == AF_UNIX;
    if (!local && !c.admin_listen_tcp) {
        fail_client("28000", "the admin console takes connections on the Unix socket only (admin_listen_tcp is off)");
        return;
    }
    if (local && peer_is_self(bufferevent_getfd(bev_.get()))) {
        admin_role_ = AdminRole::Admin;
        auth_type_ = config::AuthType::Trust;
        begin_auth(nullptr);
        return;
    }
    // Anyone else (admin_role_ stays None) goes through the same exchange,
    // with the user's own secret or an unknown user's made-up one, and is
    // refused where a wrong password is (finish_auth): the answers tell no
    // one without the password who is in admin_users or stats_users.
    if (listed(c.admin_users, user_))
        admin_role_ = AdminRole::Admin;
    else if (listed(c.stats_users, user_))
        admin_role_ = AdminRole::Stats;
    if (!choose_auth_method()) return;
    if (auth_type_ == config::AuthType::Passthrough) {
        fail_client("28000", "the admin console checks passwords against the auth_file, and none is set");
        return;
    }
    // Console users come from the auth_file only: there is no server
    // database "pggate" to run auth_query in.
    begin_auth(worker_.listed(user_));
}

void ClientConn::begin_admin_session() {
    console_ = std::make_unique<admin::Console>(
        admin_role_ == AdminRole::Admin,
        [this](const admin::Command& command, bool describe_only) { return run_command(worker_, command, describe_only); });
    log_info("C-%u %s/%s@%s: admin console login (%s)", id_, database_.c_str(), user_.c_str(), peer_.c_str(),
             admin_role_ == AdminRole::Admin ? "admin" : "stats");
    Bytes out;
    const std::pair<const char*, std::string> params[] = {
        {"server_version", std::string(PGGATE_VERSION) + "/pggate"},
        {"server_encoding", "UTF8"},
        {"client_encoding", "UTF8"},
        {"DateStyle", "ISO, MDY"},
        {"IntervalStyle", "postgres"},
        {"TimeZone", "UTC"},
        {"integer_datetimes", "on"},
        {"standard_conforming_strings", "on"},
        {"is_superuser", "off"},
        {"session_authorization", user_},
        {"application_name", application_name_},
    };
    for (const auto& [name, value] : params) protocol::build_parameter_status(out, name, value);
    protocol::build_backend_key_data(out, worker_.shm().key_pid(*slot_), client_secret_);
    protocol::build_ready_for_query(out, 'I');
    bufferevent_write(bev_.get(), out.data(), out.size());
    set_state(ClientState::Admin);
    bufferevent_enable(bev_.get(), EV_READ);
    read_admin();
}

void ClientConn::poll_admin() {
    Bytes out;
    console_->poll(out);
    if (out.empty()) return;
    bufferevent_write(bev_.get(), out.data(), out.size());
    read_admin();
}

void ClientConn::read_admin() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    while (state_ == ClientState::Admin && !console_->busy()) {
        protocol::MessageHeader h;
        protocol::DecodeError err;
        protocol::Decode d =
            net::peek_message(in, 0, protocol::Direction::Frontend, worker_.config().max_packet_size, h, err);
        if (d == protocol::Decode::Error) {
            fail_client(err.sqlstate, err.message);
            return;
        }
        if (d == protocol::Decode::NeedMore || evbuffer_get_length(in) < h.frame_len()) return;
        const std::uint8_t* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(h.frame_len()));
        Bytes out;
        const bool goes_on = console_->on_message(h.type, {p + protocol::kHeaderSize, h.body_len()}, out);
        evbuffer_drain(in, h.frame_len());
        state_since_ = pool::Clock::now();  // client_idle_timeout counts from the last command
        if (!out.empty()) bufferevent_write(bev_.get(), out.data(), out.size());
        if (!goes_on) {
            if (out.empty())
                disconnect("client terminated");
            else
                close_after_flush();
            return;
        }
    }
}

}  // namespace pggate::session
