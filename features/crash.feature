@crash
Feature: Node crash, reboot and rebuild
  A node that crashes runs nothing until it reboots; then it starts again
  what it ran without reconfiguring it. Compute nodes are stateless: a node
  rebuilt with an empty disk restores everything from the master's
  information, with the same instances, versions and addresses.

  Background:
    Given a person "alice"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 3 partitions
    And "alice" supplies "hello" on "COMP-1"
    And "alice" requests "web" of "hello"
    And "alice" requests "db" of "hello"
    And the nodes converge within 10 minutes

  Scenario: A crashed node runs nothing; rebooted, it restarts its instances without reconfiguring them
    When node "COMP-1" crashes
    Then node "COMP-1" does not run "web"
    When node "COMP-1" reboots
    And the nodes converge within 5 minutes
    Then node "COMP-1" runs "web"
    And node "COMP-1" runs "db"
    And node "COMP-1" configured nothing
    And "web" is reported started

  Scenario: Work asked of a node while it is down is done when it is back
    When node "COMP-1" crashes
    And "alice" changes parameter "color" of "db" to "blue"
    And "alice" requests "new" of "hello"
    Then "new" is allocated on "COMP-1"
    When node "COMP-1" reboots
    And the nodes converge within 10 minutes
    Then "new" is reported started
    And node "COMP-1" configured 2 partitions
    And node "COMP-1" runs "web"

  @determinism
  Scenario: A node rebuilt with an empty disk restores everything from the master
    When node "COMP-1" is rebuilt with an empty disk
    And the nodes converge within 15 minutes
    Then node "COMP-1" has "hello" installed
    And node "COMP-1" runs "web"
    And node "COMP-1" runs "db"
    And node "COMP-1" configured 2 partitions because "new"
    And "web" kept its guid and version
    And "web" publishes a connection parameter "url"
    And the software "hello" on "COMP-1" is reported available

  Scenario: A rebuilt node wipes nothing it should keep and frees what was destroyed meanwhile
    When node "COMP-1" crashes
    And "alice" destroys "db"
    And node "COMP-1" is rebuilt with an empty disk
    And the nodes converge within 15 minutes
    Then node "COMP-1" runs "web"
    And "db" is destroyed
    And 2 partitions of "COMP-1" are free
