# How Haveri is installed (cmake --install, GNUInstallDirs) and packaged (cpack -G DEB).
#
#   <prefix>/bin/haverid, haverictl
#   <prefix>/lib/haveri/plugins/libhaveri_{local,slack,teams}.so    (never the test plugins)
#   <prefix>/lib/systemd/system/haverid.service
#   <prefix>/lib/sysusers.d/haveri.conf, <prefix>/lib/tmpfiles.d/haveri.conf
#   <prefix>/share/doc/haveri/        README, docs/*.md, examples/
#   <sysconfdir>/haveri/haveri.yaml, directory.yaml, policies/ (+ tests/)
#
# <sysconfdir> is /etc for the prefixes /usr and /, else <prefix>/etc. The prefix is often
# only known at install time (cmake --install --prefix /usr on a build configured for
# /usr/local, and cpack), after GNUInstallDirs fixed its absolute paths, so what depends
# on it (the /etc files, and the paths written in the unit and the configuration) is
# installed by cmake/HaveriInstallSystem.cmake, which runs at install time.
#
# Installing and packaging use what was built: build first (cmake --build); neither
# rebuilds (the tests that install must not start a build of everything).
include(GNUInstallDirs)

set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(HAVERI_INSTALL_PLUGINDIR "lib/haveri/plugins"
    CACHE STRING "Where the plugins go, relative to the install prefix")
set(HAVERI_INSTALL_UNITDIR "lib/systemd/system"
    CACHE STRING "Where the systemd unit goes, relative to the install prefix")

install(TARGETS haverid haverictl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS haveri_local haveri_slack haveri_teams
        LIBRARY DESTINATION ${HAVERI_INSTALL_PLUGINDIR})

install(FILES ${PROJECT_SOURCE_DIR}/systemd/haveri.sysusers.conf
        DESTINATION lib/sysusers.d RENAME haveri.conf)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/haveri.tmpfiles.conf
        DESTINATION lib/tmpfiles.d RENAME haveri.conf)

# Documentation, and the examples the installed configuration was derived from.
file(GLOB HAVERI_DOCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${HAVERI_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/config.example.yaml
              ${PROJECT_SOURCE_DIR}/directory.example.yaml
              ${PROJECT_SOURCE_DIR}/policies/policy.schema.json
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${PROJECT_SOURCE_DIR}/plugins/slack/manifest.yaml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/slack)
install(FILES ${PROJECT_SOURCE_DIR}/plugins/teams/manifest/manifest.json
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/teams)

# The configuration under /etc: what the operator edits, so the package marks every
# file as a conffile (dpkg keeps local changes on upgrade and asks).
file(GLOB HAVERI_ETC_POLICIES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/policies/*.yaml)
file(GLOB HAVERI_ETC_POLICY_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/policies/tests/*.yaml)
install(CODE "
  set(HAVERI_SOURCE_DIR [[${PROJECT_SOURCE_DIR}]])
  set(HAVERI_STAGING_DIR [[${PROJECT_BINARY_DIR}/install-staging]])
  set(HAVERI_INSTALL_BINDIR [[${CMAKE_INSTALL_BINDIR}]])
  set(HAVERI_INSTALL_PLUGINDIR [[${HAVERI_INSTALL_PLUGINDIR}]])
  set(HAVERI_INSTALL_UNITDIR [[${HAVERI_INSTALL_UNITDIR}]])
  set(HAVERI_ETC_POLICIES [[${HAVERI_ETC_POLICIES}]])
  set(HAVERI_ETC_POLICY_TESTS [[${HAVERI_ETC_POLICY_TESTS}]])
")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/HaveriInstallSystem.cmake)

set(haveri_conffiles /etc/haveri/haveri.yaml /etc/haveri/directory.yaml)
foreach(policy IN LISTS HAVERI_ETC_POLICIES)
  get_filename_component(name ${policy} NAME)
  list(APPEND haveri_conffiles /etc/haveri/policies/${name})
endforeach()
foreach(policy_test IN LISTS HAVERI_ETC_POLICY_TESTS)
  get_filename_component(name ${policy_test} NAME)
  list(APPEND haveri_conffiles /etc/haveri/policies/tests/${name})
endforeach()
list(JOIN haveri_conffiles "\n" haveri_conffiles_text)
set(HAVERI_DEB_CONTROL_DIR ${PROJECT_BINARY_DIR}/packaging/debian)
file(WRITE ${HAVERI_DEB_CONTROL_DIR}/conffiles "${haveri_conffiles_text}\n")
foreach(script postinst prerm postrm)
  configure_file(${PROJECT_SOURCE_DIR}/packaging/debian/${script} ${HAVERI_DEB_CONTROL_DIR}/${script}
                 COPYONLY)
endforeach()

# cpack -G DEB (in the build directory, or cpack --config <build>/CPackConfig.cmake).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME haveri)
set(CPACK_PACKAGE_VENDOR "Haveri")
set(CPACK_PACKAGE_CONTACT "Haveri maintainers <maintainers@haveri.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "chat-native incident management daemon")
set(CPACK_PACKAGE_DESCRIPTION
    "Haveri turns what responders say in Slack or Microsoft Teams into an append-only
incident record, pages the right people on time from escalation policies kept
as YAML, and runs as one hardened systemd service (haverid) with an embedded
SQLite store.")
# Installed with the prefix /usr into the staging root through DESTDIR, so that /etc
# lands in the package (not on the machine that builds it, nor under /usr/etc).
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# zstd: dpkg reads it since 1.21.18 (Debian 12), and it packs far faster than gzip/xz.
set(CPACK_DEBIAN_COMPRESSION_TYPE zstd)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Libraries from dpkg-shlibdeps; LoadCredentialEncrypted= needs systemd 250; the
# directory's time zones are read from tzdata.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd (>= 250), tzdata")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates, sqlite3")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${HAVERI_DEB_CONTROL_DIR}/conffiles ${HAVERI_DEB_CONTROL_DIR}/postinst
    ${HAVERI_DEB_CONTROL_DIR}/prerm ${HAVERI_DEB_CONTROL_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
