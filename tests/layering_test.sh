#!/usr/bin/env bash
# The arrows between the host's parts (host/CMakeLists.txt links the same):
# each part may include only itself and the parts listed for it. Fails with
# the file and the include that breaks an arrow.
# Usage: tests/layering_test.sh SOURCE_DIR
set -euo pipefail
cd "${1:-.}/host"
declare -A allowed=(
  [util]=""
  [log]=""
  [metrics]=""
  [net]="log util"
  [config]="log util"
  [store]="log util"
  [rules]="config store log util"
  [events]="config store log util"
  [plugins]="http net config store metrics log util"
  [http]="net config metrics log util"
  [executor]="rules events plugins config store metrics log util"
  [pipeline]="executor rules events plugins config store metrics log util"
  [cluster]="store log util"
  [analytics]="rules events config store log util"
  [api]="http events store executor rules cluster analytics config metrics log util"
  [crm]="rules events plugins config store log util"
  [timers]="rules analytics config store log util"
  [app]="api pipeline crm timers analytics cluster executor rules events plugins http net config store metrics log util"
)
# Below the executor nothing knows HTTP: of the plugins part it sees only
# the call types, never the loader or the host services' HTTP client.
executor_may_include_from_plugins="ActionOutcome.h PendingCalls.h PluginInstance.h PluginLibrary.h HostServices.h"
status=0
for part in "${!allowed[@]}"; do
  for file in "$part"/*.h "$part"/*.cpp; do
    [ -e "$file" ] || continue
    while IFS= read -r include; do
      dep=${include%%/*}
      [ "$dep" = "$part" ] && continue
      [ -d "$dep" ] || continue  # generated headers, the SDK
      if [[ " ${allowed[$part]} " != *" $dep "* ]]; then
        echo "host/$file includes \"$include\": $part may not depend on $dep"
        status=1
      fi
      if [[ "$dep" = plugins && ( "$part" = executor || "$part" = pipeline || "$part" = crm ) &&
            " $executor_may_include_from_plugins " != *" ${include#plugins/} "* ]]; then
        echo "host/$file includes \"$include\": the $part part sees only the plugins' call types"
        status=1
      fi
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
  done
done
# What the executor and below include must not reach HTTP through a header.
for header in plugins/ActionOutcome.h plugins/PendingCalls.h plugins/PluginInstance.h plugins/PluginLibrary.h plugins/HostServices.h; do
  if grep -q '^#include "http/' "$header"; then
    echo "host/$header includes an HTTP header, and the executor includes it"
    status=1
  fi
done
[ $status = 0 ] && echo "layering: every include follows the arrows"
exit $status
