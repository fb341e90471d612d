// Counters and histograms exported in the Prometheus text format (GET /metrics).
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sb {

using Labels = std::map<std::string, std::string>;

// One counter series. Adding takes no lock: hot paths look their series up
// once and keep the reference (it lives as long as the Metrics).
class Counter {
 public:
  void add(double value = 1) { value_.fetch_add(value, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Metrics {
 public:
  Counter& counter(const std::string& name, const Labels& labels);
  void counter_add(const std::string& name, const Labels& labels, double value = 1) {
    counter(name, labels).add(value);
  }
  void observe(const std::string& name, const Labels& labels, double value);
  std::string prometheus_text() const;
  // Whether a family of that name is a histogram, or a counter: one name is
  // one kind in the exposition format (a second "# TYPE" line breaks it).
  bool is_histogram(const std::string& name) const;
  bool is_counter(const std::string& name) const;

  // [a-z_][a-z0-9_]* with at most 128 characters.
  static bool valid_name(const std::string& name);

 private:
  struct Histogram {
    std::vector<double> bucket_counts;  // one per bound, cumulative on export
    double sum = 0;
    uint64_t count = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, std::map<Labels, Counter>> counters_;  // nodes never move
  std::map<std::string, std::map<Labels, Histogram>> histograms_;
};

}  // namespace sb
