// Wire encoding of admin console results.
#include "admin/table.hpp"

#include "protocol/messages.hpp"

namespace pggate::admin {

namespace {

// A typed message of `body`, built in place.
template <typename Fill>
void message(Bytes& out, char type, Fill fill) {
    ByteWriter w(out);
    w.u8(static_cast<std::uint8_t>(type));
    const std::size_t at = w.size();
    w.u32(0);
    fill(w);
    w.patch_u32(at, static_cast<std::uint32_t>(w.size() - at));
}

}  // namespace

void Table::encode_description(Bytes& out) const {
    message(out, 'T', [&](ByteWriter& w) {
        w.u16(static_cast<std::uint16_t>(columns_.size()));
        for (const Column& c : columns_) {
            w.cstring(c.name);
            w.u32(0);  // no table
            w.u16(0);  // no column number
            w.u32(static_cast<std::uint32_t>(c.type));
            w.u16(c.type == ColumnType::Int8 ? 8 : 0xFFFF);  // typlen; -1: variable
            w.u32(0xFFFFFFFF);                               // typmod -1
            w.u16(0);                                        // text format
        }
    });
}

void Table::encode_rows(Bytes& out) const {
    for (const Row& row : rows_) {
        message(out, 'D', [&](ByteWriter& w) {
            w.u16(static_cast<std::uint16_t>(row.size()));
            for (const auto& v : row) {
                if (!v) {
                    w.u32(0xFFFFFFFF);
                    continue;
                }
                w.u32(static_cast<std::uint32_t>(v->size()));
                w.raw(*v);
            }
        });
    }
    protocol::build_message(out, 'C', {"SHOW", std::string_view("\0", 1)});
}

}  // namespace pggate::admin
