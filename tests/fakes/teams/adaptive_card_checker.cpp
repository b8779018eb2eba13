#include "teams/adaptive_card_checker.hpp"
