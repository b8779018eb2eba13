# Runs at install time (install(SCRIPT) in HaveriPackaging.cmake, which sets the
# HAVERI_* variables before it): installs what depends on the install prefix, now known.
#
# The shipped unit and configuration name the paths of a /usr install (/usr/bin/haverid,
# /usr/lib/haveri/plugins, /etc/haveri); another prefix gets them rewritten.

string(REGEX REPLACE "/+$" "" haveri_prefix "${CMAKE_INSTALL_PREFIX}")
if(haveri_prefix STREQUAL "" OR haveri_prefix STREQUAL "/usr")
  set(haveri_sysconfdir /etc)  # as GNUInstallDirs does for these prefixes
else()
  set(haveri_sysconfdir "${haveri_prefix}/etc")
endif()
foreach(dir HAVERI_INSTALL_BINDIR HAVERI_INSTALL_PLUGINDIR HAVERI_INSTALL_UNITDIR)
  if(IS_ABSOLUTE "${${dir}}")
    set(${dir}_full "${${dir}}")
  else()
    set(${dir}_full "${haveri_prefix}/${${dir}}")
  endif()
endforeach()

# Files are written here before they are installed; one directory per destination, so
# that installs running at the same time (the tests) do not share one.
string(SHA1 haveri_install_id "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
set(HAVERI_STAGING_DIR "${HAVERI_STAGING_DIR}/${haveri_install_id}")

# Writes `source` with the paths of this install into the staging directory, then
# installs it into `destination` (file(INSTALL) adds $DESTDIR and records it).
function(haveri_install_with_paths source destination name)
  file(READ "${source}" text)
  string(REPLACE "/usr/bin/" "${HAVERI_INSTALL_BINDIR_full}/" text "${text}")
  string(REPLACE "/usr/lib/haveri/plugins" "${HAVERI_INSTALL_PLUGINDIR_full}" text "${text}")
  string(REPLACE "/etc/haveri" "${haveri_sysconfdir}/haveri" text "${text}")
  file(WRITE "${HAVERI_STAGING_DIR}/${name}" "${text}")
  file(INSTALL DESTINATION "${destination}" TYPE FILE FILES "${HAVERI_STAGING_DIR}/${name}")
endfunction()

file(MAKE_DIRECTORY "${HAVERI_STAGING_DIR}/haveri")
# /etc/haveri: 0750, as tmpfiles.d and ConfigurationDirectoryMode= keep it; the package's
# postinst gives it the group haveri.
file(INSTALL DESTINATION "${haveri_sysconfdir}" TYPE DIRECTORY
     FILES "${HAVERI_STAGING_DIR}/haveri"
     DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE)
haveri_install_with_paths("${HAVERI_SOURCE_DIR}/packaging/haveri.yaml"
                          "${haveri_sysconfdir}/haveri" haveri.yaml)
file(INSTALL DESTINATION "${haveri_sysconfdir}/haveri" TYPE FILE
     FILES "${HAVERI_SOURCE_DIR}/directory.example.yaml" RENAME directory.yaml)
file(INSTALL DESTINATION "${haveri_sysconfdir}/haveri/policies" TYPE FILE
     FILES ${HAVERI_ETC_POLICIES})
file(INSTALL DESTINATION "${haveri_sysconfdir}/haveri/policies/tests" TYPE FILE
     FILES ${HAVERI_ETC_POLICY_TESTS})

haveri_install_with_paths("${HAVERI_SOURCE_DIR}/systemd/haverid.service"
                          "${HAVERI_INSTALL_UNITDIR_full}" haverid.service)

file(REMOVE_RECURSE "${HAVERI_STAGING_DIR}")
