"""The Explorer's sub-tabs: the gain and depth sweeps each on its own, with their own button and status line,
one seeds value, and a sweep that ends on a sub-tab not shown marked on its tab."""

from initscope.core.config import preset

from conftest import wait_laid_out


def test_gain_and_depth_each_have_a_sub_tab_and_a_sweep_ending_unseen_is_marked(make_initscope_window, qtbot):
    d = make_initscope_window(preset("deep-nobn"))
    ex = d.window.explorer
    d.show_tab("explorer")
    assert [ex.inner.tabText(i) for i in range(ex.inner.count())] == ["Gain sweep", "Depth sweep", "Train sweep",
                                                                         "Width", "Time"]
    for p in ex.gain_view.panels:  # before a sweep: the sweep's gains, so the 5/3 line and its name sit inside
        lo, hi = p.plot.viewRange()[0]
        assert lo <= 0.25 and hi >= 3.0
    ex.depth_seeds.setValue(1)
    assert ex.seeds.value() == 1  # one value, shown in both bars
    ex.seeds.setValue(2)
    ex.seeds.setValue(1)
    assert ex.depth_seeds.value() == 1
    qtbot.waitUntil(lambda: ex.thread is not None, timeout=30_000)
    ex.inner.setCurrentWidget(ex.depth_view)
    ex.gain_btn.click()
    assert ex.inner.currentWidget() is ex.gain_view  # the sweep asked for is shown
    assert ex.status is ex.gain_status and ex.status.text().startswith("sweeping gain")
    ex.depth_btn.click()  # while the gain sweep runs: it waits for it, and stops nothing
    assert ex.inner.currentWidget() is ex.depth_view and ex.depth_status.text().startswith("queued")
    qtbot.waitUntil(lambda: ex.status.text() == "depth sweep done", timeout=60_000)
    assert ex.gain_status.text().startswith("done") and len(ex.gain_view.values) == len(ex.gain_view.gains) == 24
    gain_tab = ex.inner.indexOf(ex.gain_view)
    assert ex.inner.tabText(gain_tab) == "Gain sweep" + ex.DONE_MARK  # it ended while Depth sweep was shown
    assert ex.inner.tabText(ex.inner.indexOf(ex.depth_view)) == "Depth sweep"  # it ended in view
    d.show_tab("explorer:gain")  # the driver names the sub-tabs
    assert ex.inner.currentIndex() == gain_tab and ex.inner.tabText(gain_tab) == "Gain sweep"
    d.show_tab("explorer:train")
    assert ex.inner.tabText(ex.inner.currentIndex()) == "Train sweep"
    d.show_tab("explorer:width")
    assert ex.inner.tabText(ex.inner.currentIndex()) == "Width"
    d.show_tab("explorer:time")  # the histograms over time (issue 24): the scrubber shows beside it, not the sweeps
    scrubber = d.window.scrubber
    assert ex.inner.currentWidget() is d.window.heatmaps and scrubber.wanted
    assert not scrubber.isVisibleTo(d.window)  # a preview: nothing to scrub, the status line keeps the room
    d.show_tab("explorer:gain")
    assert not scrubber.wanted and not scrubber.isVisibleTo(d.window)


def test_the_sweep_page_not_shown_is_laid_out_for_exports(make_initscope_window, qtbot):
    """Export panels draws every panel: the depth plots, never shown, are drawn at the size they have on screen."""
    d = make_initscope_window(preset("deep-nobn"), size=(1366, 768))
    ex = d.window.explorer
    d.show_tab("explorer")
    wait_laid_out(qtbot, d.window)
    d.render()
    assert ex.inner.currentWidget() is ex.gain_view
    hidden = [p.view.size() for p in (ex.depth_view.std_panel, ex.depth_view.sat_panel, ex.depth_view.grad_panel)]
    ex.inner.setCurrentWidget(ex.depth_view)
    wait_laid_out(qtbot, d.window)
    shown = [p.view.size() for p in (ex.depth_view.std_panel, ex.depth_view.sat_panel, ex.depth_view.grad_panel)]
    assert hidden == shown
