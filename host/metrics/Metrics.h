// Counters and histograms exported in the Prometheus text format (GET /metrics).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sb {

using Labels = std::map<std::string, std::string>;

class Metrics {
 public:
  void counter_add(const std::string& name, const Labels& labels, double value = 1);
  void observe(const std::string& name, const Labels& labels, double value);
  std::string prometheus_text() const;

  // [a-z_][a-z0-9_]* with at most 128 characters.
  static bool valid_name(const std::string& name);

 private:
  struct Histogram {
    std::vector<double> bucket_counts;  // one per bound, cumulative on export
    double sum = 0;
    uint64_t count = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, std::map<Labels, double>> counters_;
  std::map<std::string, std::map<Labels, Histogram>> histograms_;
};

}  // namespace sb
