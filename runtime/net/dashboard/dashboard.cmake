# The dashboard page, embedded into qflow_net: sets QFLOW_DASHBOARD_SOURCE, the generated C++
# source behind dashboard_page() (control_server.hpp). Included from runtime/net/CMakeLists.txt.
#
# npm installs the pinned charting library (package.json, package-lock.json) into the build tree,
# never the source tree; embed_page.cmake then inlines style.css, the library's standalone
# production bundle and app.js into index.html and writes the bytes out as a C++ array, so the
# page needs no network. npm's cache serves repeated builds without one.
find_program(QFLOW_NPM npm)
if(NOT QFLOW_NPM)
  message(FATAL_ERROR "npm is needed to build the dashboard page (runtime/net/dashboard): "
                      "install it (apt-get install npm) and configure again")
endif()

set(dashboard_src ${CMAKE_CURRENT_LIST_DIR})
set(dashboard_bin ${CMAKE_CURRENT_BINARY_DIR}/dashboard)
set(dashboard_bundle ${dashboard_bin}/node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js)
set(QFLOW_DASHBOARD_SOURCE ${CMAKE_CURRENT_BINARY_DIR}/dashboard_page.cpp)
file(MAKE_DIRECTORY ${dashboard_bin})

add_custom_command(
  OUTPUT ${dashboard_bin}/npm-ci.stamp
  BYPRODUCTS ${dashboard_bundle}
  COMMAND ${CMAKE_COMMAND} -E copy_if_different ${dashboard_src}/package.json ${dashboard_src}/package-lock.json
          ${dashboard_bin}
  COMMAND ${QFLOW_NPM} ci --no-audit --no-fund --ignore-scripts --prefer-offline --loglevel=error
  COMMAND ${CMAKE_COMMAND} -E touch ${dashboard_bin}/npm-ci.stamp
  WORKING_DIRECTORY ${dashboard_bin}
  DEPENDS ${dashboard_src}/package.json ${dashboard_src}/package-lock.json
  COMMENT "Installing the dashboard's charting library (npm ci)"
  VERBATIM)

add_custom_command(
  OUTPUT ${QFLOW_DASHBOARD_SOURCE}
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${dashboard_src} -DBUNDLE=${dashboard_bundle}
          -DOUTPUT=${QFLOW_DASHBOARD_SOURCE} -P ${dashboard_src}/embed_page.cmake
  DEPENDS ${dashboard_src}/index.html ${dashboard_src}/style.css ${dashboard_src}/app.js
          ${dashboard_src}/embed_page.cmake ${dashboard_bin}/npm-ci.stamp
  COMMENT "Embedding the dashboard page"
  VERBATIM)
