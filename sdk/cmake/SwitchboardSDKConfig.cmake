include(${CMAKE_CURRENT_LIST_DIR}/SwitchboardSDKTargets.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/SwitchboardPlugin.cmake)
