#include "adaptive_card.hpp"
