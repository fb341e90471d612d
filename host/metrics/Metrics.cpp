#include "metrics/Metrics.h"

#include <array>
#include <charconv>
#include <sstream>

namespace sb {

namespace {
constexpr std::array<double, 11> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// Shortest text that reads back as the same double: 1234567, not 1.23457e+06.
std::string number(double v) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return ec == std::errc() ? std::string(buffer, end) : std::string("NaN");
}

std::string label_text(const Labels& labels, const std::string& extra = {}) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=\"" + escape(v) + "\"";
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? "" : "{" + out + "}";
}
}  // namespace

bool Metrics::valid_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

Counter& Metrics::counter(const std::string& name, const Labels& labels) {
  std::lock_guard lock(mutex_);
  return counters_[name][labels];
}

void Metrics::observe(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mutex_);
  Histogram& h = histograms_[name][labels];
  if (h.bucket_counts.empty()) h.bucket_counts.assign(kBounds.size(), 0);
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (value <= kBounds[i]) {
      ++h.bucket_counts[i];
      break;
    }
  h.sum += value;
  ++h.count;
}

bool Metrics::is_histogram(const std::string& name) const {
  std::lock_guard lock(mutex_);
  return histograms_.count(name) != 0;
}

bool Metrics::is_counter(const std::string& name) const {
  std::lock_guard lock(mutex_);
  return counters_.count(name) != 0;
}

std::string Metrics::prometheus_text() const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  for (const auto& [name, series] : counters_) {
    out << "# TYPE " << name << " counter\n";
    for (const auto& [labels, c] : series) out << name << label_text(labels) << ' ' << number(c.value()) << '\n';
  }
  for (const auto& [name, series] : histograms_) {
    out << "# TYPE " << name << " histogram\n";
    for (const auto& [labels, h] : series) {
      double cumulative = 0;
      for (size_t i = 0; i < kBounds.size(); ++i) {
        cumulative += h.bucket_counts[i];
        out << name << "_bucket" << label_text(labels, "le=\"" + number(kBounds[i]) + "\"") << ' ' << number(cumulative)
            << '\n';
      }
      out << name << "_bucket" << label_text(labels, "le=\"+Inf\"") << ' ' << h.count << '\n';
      out << name << "_sum" << label_text(labels) << ' ' << number(h.sum) << '\n';
      out << name << "_count" << label_text(labels) << ' ' << h.count << '\n';
    }
  }
  return out.str();
}

}  // namespace sb
