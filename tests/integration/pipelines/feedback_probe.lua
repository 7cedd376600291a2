-- Buys 10 on bar 5 and sells them on bar 20; reports position() as a signal on every bar.
local n = 0
function on_bar(bar)
  n = n + 1
  if n == 5 then buy(10) end
  if n == 20 then sell(10) end
  signal(position(), 1)
end
