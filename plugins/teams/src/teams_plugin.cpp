// libhaveri_teams.so — the Microsoft Teams adapter (docs/teams.md). Work in progress.
#include <haveri/plugin.hpp>
