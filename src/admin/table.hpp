// A result the admin console sends: named, typed columns and text rows, and
// its encoding as RowDescription, DataRow and CommandComplete messages (pure).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.hpp"

namespace pggate::admin {

enum class ColumnType : std::uint32_t { Text = 25, Int8 = 20, Numeric = 1700 };

struct Column {
    std::string name;
    ColumnType type;
};

class Table {
public:
    explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
    // A row of text values, one per column; nullopt is SQL NULL.
    using Row = std::vector<std::optional<std::string>>;
    void add(Row row) { rows_.push_back(std::move(row)); }
    const std::vector<Column>& columns() const { return columns_; }
    const std::vector<Row>& rows() const { return rows_; }

    void encode_description(Bytes& out) const;  // RowDescription ('T')
    // DataRows, then CommandComplete "SHOW".
    void encode_rows(Bytes& out) const;

private:
    std::vector<Column> columns_;
    std::vector<Row> rows_;
};

}  // namespace pggate::admin
