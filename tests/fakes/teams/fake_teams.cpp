// The fake Microsoft side: see fake_teams.hpp (to come).
