-- The feed benchmark's strategy: an order on every bar (buy when flat, sell when long), so each
-- feed message leads to exactly one order and its latency can be measured.
state = { n = 0 }
function on_bar(bar)
  state.n = state.n + 1
  local f, s = value("fast"), value("slow")
  if position() > 0 then sell(position()) else buy(0.01) end
end
